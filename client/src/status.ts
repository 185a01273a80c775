import * as vscode from "vscode";

let item: vscode.LanguageStatusItem | undefined;

function getItem(): vscode.LanguageStatusItem {
  if (!item) {
    item = vscode.languages.createLanguageStatusItem("gpulens.status", { language: "python" });
    item.name = "gpulens";
    item.command = { title: "Show Logs", command: "gpulens.showLogs" };
  }
  return item;
}

export function setStatus(
  text: string,
  detail: string,
  severity: vscode.LanguageStatusSeverity = vscode.LanguageStatusSeverity.Information,
  busy = false,
): void {
  const status = getItem();
  status.text = text;
  status.detail = detail;
  status.severity = severity;
  status.busy = busy;
}

export function disposeStatus(): void {
  item?.dispose();
  item = undefined;
}
