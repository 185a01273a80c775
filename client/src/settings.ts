import * as vscode from "vscode";

export const SECTION = "gpulens";

/** Settings that only the client reads; a change to them restarts the server. */
const RESTART_SETTINGS = ["interpreter"];

/** `gpulens.interpreter`: an explicit interpreter command, or [] to find one. */
export function getInterpreterSetting(resource?: vscode.Uri): string[] {
  const value = vscode.workspace.getConfiguration(SECTION, resource).get<unknown>("interpreter");
  if (!Array.isArray(value)) {
    return [];
  }
  return value.filter((part): part is string => typeof part === "string" && part.length > 0);
}

export function needsRestart(event: vscode.ConfigurationChangeEvent): boolean {
  return RESTART_SETTINGS.some((name) => event.affectsConfiguration(`${SECTION}.${name}`));
}

/** The resource the server's interpreter is chosen for: the first workspace folder, if any. */
export function primaryResource(): vscode.Uri | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri;
}
