import * as vscode from "vscode";

let channel: vscode.LogOutputChannel | undefined;

/** The "gpulens" log output channel, shared by the client and the language client. */
export function getLogger(): vscode.LogOutputChannel {
  if (!channel) {
    channel = vscode.window.createOutputChannel("gpulens", { log: true });
  }
  return channel;
}

export function disposeLogger(): void {
  channel?.dispose();
  channel = undefined;
}
