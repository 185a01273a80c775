import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
} from "vscode-languageclient/node";
import { getLogger } from "./logger";
import { SECTION } from "./settings";

export const SERVER_ID = "gpulens";
export const SERVER_NAME = "gpulens";

/**
 * Folders put in front of PYTHONPATH: the pure-Python dependencies and the gpulens package
 * bundled into the .vsix (bundled/libs). When the extension runs from a source checkout, the
 * checkout's server/ folder comes first, so that its gpulens wins over a bundled copy.
 */
export function serverPythonPath(extensionPath: string): string[] {
  const candidates = [path.join(extensionPath, "bundled", "libs")];
  if (fs.existsSync(path.join(extensionPath, "server", "gpulens", "__init__.py"))) {
    candidates.unshift(path.join(extensionPath, "server"));
  }
  return candidates.filter((dir) => fs.existsSync(dir));
}

function serverEnv(extensionPath: string): NodeJS.ProcessEnv {
  const ours = serverPythonPath(extensionPath);
  const existing = process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [];
  return {
    ...process.env,
    PYTHONPATH: [...ours, ...existing].join(path.delimiter),
    PYTHONUNBUFFERED: "1",
    PYTHONIOENCODING: "utf-8",
  };
}

export function createClient(
  context: vscode.ExtensionContext,
  interpreter: string[],
): LanguageClient {
  const [command, ...interpreterArgs] = interpreter;
  const serverOptions: ServerOptions = {
    command,
    args: [...interpreterArgs, "-m", "gpulens", "serve"],
    // The extension folder has no `gpulens` folder of its own at the top, so `python -m`
    // cannot pick up a same-named folder from the user's workspace instead of ours.
    options: { cwd: context.extensionPath, env: serverEnv(context.extensionPath) },
  };
  const logger = getLogger();
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    outputChannel: logger,
    traceOutputChannel: logger,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    synchronize: {
      // The server pulls settings with workspace/configuration; this tells it when to re-pull.
      configurationSection: SECTION,
      // Script arguments may come from launch.json.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/.vscode/launch.json"),
    },
    initializationOptions: { clientLanguage: vscode.env.language },
    markdown: { isTrusted: false, supportHtml: false },
  };
  return new LanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
}
