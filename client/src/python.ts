import { execFile } from "node:child_process";
import * as vscode from "vscode";
import { PythonExtension, PVSC_EXTENSION_ID } from "@vscode/python-extension";
import { getLogger } from "./logger";
import { getInterpreterSetting } from "./settings";

export const MIN_PYTHON: [number, number] = [3, 10];
const FALLBACK_INTERPRETER = ["python3"];

export interface Interpreter {
  /** The command that runs Python, e.g. ["/usr/bin/python3"]. */
  command: string[];
  /** Where it came from, for the logs and the status item. */
  source: "setting" | "python extension" | "fallback";
}

let pythonApi: PythonExtension | undefined;

/**
 * Hooks into the Python extension when it is installed: `onChange` runs when the user picks
 * another active environment. The Python extension is optional.
 */
export async function initializePython(
  disposables: vscode.Disposable[],
  onChange: () => void,
): Promise<void> {
  if (!vscode.extensions.getExtension(PVSC_EXTENSION_ID)) {
    getLogger().info("Python extension not installed; using gpulens.interpreter or python3.");
    return;
  }
  try {
    pythonApi = await PythonExtension.api();
    disposables.push(
      pythonApi.environments.onDidChangeActiveEnvironmentPath((event) => {
        getLogger().info(`Python extension: active environment is now ${event.path}`);
        onChange();
      }),
    );
  } catch (error) {
    pythonApi = undefined;
    getLogger().warn(`Python extension API unavailable: ${String(error)}`);
  }
}

async function fromPythonExtension(resource?: vscode.Uri): Promise<string[] | undefined> {
  if (!pythonApi) {
    return undefined;
  }
  try {
    const envPath = pythonApi.environments.getActiveEnvironmentPath(resource);
    const env = await pythonApi.environments.resolveEnvironment(envPath);
    const executable = env?.executable.uri?.fsPath;
    if (!env || !executable) {
      return undefined;
    }
    const version = env.version;
    if (version && !isSupported(version.major, version.minor)) {
      getLogger().warn(
        `Python extension's environment ${executable} is Python ${version.major}.${version.minor}; ` +
          `gpulens needs ${MIN_PYTHON.join(".")}+, falling back to ${FALLBACK_INTERPRETER.join(" ")}.`,
      );
      return undefined;
    }
    return [executable];
  } catch (error) {
    getLogger().warn(`Could not resolve the Python extension's environment: ${String(error)}`);
    return undefined;
  }
}

/** The interpreter for the server: the setting, else the Python extension's, else python3. */
export async function resolveInterpreter(resource?: vscode.Uri): Promise<Interpreter> {
  const setting = getInterpreterSetting(resource);
  if (setting.length > 0) {
    return { command: setting, source: "setting" };
  }
  const fromExtension = await fromPythonExtension(resource);
  if (fromExtension) {
    return { command: fromExtension, source: "python extension" };
  }
  return { command: FALLBACK_INTERPRETER, source: "fallback" };
}

function isSupported(major: number | undefined, minor: number | undefined): boolean {
  if (major === undefined || minor === undefined) {
    return true;
  }
  return major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);
}

/**
 * Runs the interpreter once to check that it exists and is recent enough.
 * Returns an error message, or undefined when it is usable.
 */
export function checkInterpreter(command: string[]): Promise<string | undefined> {
  const [file, ...args] = command;
  const probe = "import sys; print('%d.%d' % sys.version_info[:2])";
  return new Promise((resolve) => {
    execFile(file, [...args, "-c", probe], { timeout: 15000 }, (error, stdout) => {
      if (error) {
        resolve(`cannot run ${command.join(" ")}: ${error.message}`);
        return;
      }
      const [major, minor] = stdout.trim().split(".").map(Number);
      if (!isSupported(major, minor)) {
        resolve(
          `${command.join(" ")} is Python ${stdout.trim()}; gpulens needs ${MIN_PYTHON.join(".")}+`,
        );
        return;
      }
      resolve(undefined);
    });
  });
}
