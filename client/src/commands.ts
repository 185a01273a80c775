import * as vscode from "vscode";
import { getLogger } from "./logger";

export function registerCommands(restart: () => Promise<void>): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("gpulens.restartServer", async () => {
      getLogger().info("Restart requested by the user.");
      await restart();
    }),
    vscode.commands.registerCommand("gpulens.showLogs", () => {
      getLogger().show(true);
    }),
  ];
}
