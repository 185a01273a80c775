import * as vscode from "vscode";
import { LanguageClient } from "vscode-languageclient/node";
import { registerCommands } from "./commands";
import { disposeLogger, getLogger } from "./logger";
import { checkInterpreter, initializePython, resolveInterpreter } from "./python";
import { createClient } from "./server";
import { getInterpreterSetting, needsRestart, primaryResource } from "./settings";
import { disposeStatus, setStatus } from "./status";

let client: LanguageClient | undefined;
/** Restarts run one after another; a restart asked for during one runs once it is done. */
let queue: Promise<void> = Promise.resolve();
/** Settings and environment changes come in bursts (typing in the Settings editor). */
const RESTART_DEBOUNCE_MS = 300;
let pendingRestart: NodeJS.Timeout | undefined;

async function stopClient(): Promise<void> {
  if (!client) {
    return;
  }
  const old = client;
  client = undefined;
  try {
    await old.stop(5000);
  } catch (error) {
    getLogger().warn(`Stopping the server: ${String(error)}`);
  }
  await old.dispose();
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const logger = getLogger();
  await stopClient();
  const interpreter = await resolveInterpreter(primaryResource());
  const shown = interpreter.command.join(" ");
  logger.info(`Interpreter (${interpreter.source}): ${shown}`);
  setStatus("gpulens", `starting with ${shown}`, vscode.LanguageStatusSeverity.Information, true);

  const problem = await checkInterpreter(interpreter.command);
  if (problem) {
    logger.error(problem);
    setStatus("gpulens", problem, vscode.LanguageStatusSeverity.Error);
    void vscode.window
      .showErrorMessage(
        `gpulens: ${problem}. Set "gpulens.interpreter" to a Python 3.10+ interpreter.`,
        "Show Logs",
        "Open Settings",
      )
      .then((choice) => {
        if (choice === "Show Logs") {
          logger.show(true);
        } else if (choice === "Open Settings") {
          void vscode.commands.executeCommand(
            "workbench.action.openSettings",
            "gpulens.interpreter",
          );
        }
      });
    return;
  }

  const next = createClient(context, interpreter.command);
  client = next;
  try {
    await next.start();
    logger.info(`Server started: ${shown} -m gpulens serve`);
    setStatus("gpulens", `running on ${shown}`);
  } catch (error) {
    logger.error(`The server failed to start: ${String(error)}`);
    setStatus("gpulens", `failed to start: ${String(error)}`, vscode.LanguageStatusSeverity.Error);
    if (client === next) {
      client = undefined;
    }
    await next.dispose().catch(() => undefined);
  }
}

/**
 * A restart soon, once a burst of changes is over. The delay also lets the running client
 * pass the configuration change on before it is stopped.
 */
function restartSoon(context: vscode.ExtensionContext, why: string): void {
  if (pendingRestart) {
    clearTimeout(pendingRestart);
  }
  pendingRestart = setTimeout(() => {
    pendingRestart = undefined;
    getLogger().info(`${why}; restarting the server.`);
    void restart(context);
  }, RESTART_DEBOUNCE_MS);
}

function restart(context: vscode.ExtensionContext): Promise<void> {
  queue = queue
    .then(() => startClient(context))
    .catch((error: unknown) => {
      getLogger().error(`Restart failed: ${String(error)}`);
    });
  return queue;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const logger = getLogger();
  const manifest = context.extension.packageJSON as { version?: string };
  const version = manifest.version ?? "";
  logger.info(`gpulens ${version} activating (VS Code ${vscode.version}, ${vscode.env.language})`);

  context.subscriptions.push(
    ...registerCommands(() => restart(context)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (needsRestart(event)) {
        restartSoon(context, "gpulens.interpreter changed");
      }
    }),
  );

  await initializePython(context.subscriptions, () => {
    if (getInterpreterSetting(primaryResource()).length === 0) {
      restartSoon(context, "The Python extension's active environment changed");
    }
  });
  await restart(context);
}

export async function deactivate(): Promise<void> {
  if (pendingRestart) {
    clearTimeout(pendingRestart);
    pendingRestart = undefined;
  }
  await queue;
  await stopClient();
  disposeStatus();
  disposeLogger();
}
