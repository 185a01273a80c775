// A stand-in for the Python extension (ms-python.python) in gpulens' VS Code tests: it offers
// the part of the environments API that @vscode/python-extension clients use. The active
// environment is the setting stubPython.path; changing it fires onDidChangeActiveEnvironmentPath.
"use strict";
const vscode = require("vscode");

function activePath() {
  return vscode.workspace.getConfiguration("stubPython").get("path") || "";
}

function environment(path) {
  return {
    id: path,
    path,
    executable: { uri: vscode.Uri.file(path), bitness: "64-bit", sysPrefix: "" },
    environment: undefined,
    version: { major: 3, minor: 11, micro: 0, release: undefined, sysVersion: "3.11" },
    tools: [],
  };
}

exports.activate = function activate(context) {
  const changed = new vscode.EventEmitter();
  const never = new vscode.EventEmitter();
  context.subscriptions.push(
    changed,
    never,
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("stubPython.path")) {
        changed.fire({ id: activePath(), path: activePath(), resource: undefined });
      }
    }),
  );
  return {
    ready: Promise.resolve(),
    debug: {
      getRemoteLauncherCommand: async () => [],
      getDebuggerPackagePath: async () => undefined,
    },
    environments: {
      getActiveEnvironmentPath: () => ({ id: activePath(), path: activePath() }),
      updateActiveEnvironmentPath: async () => undefined,
      onDidChangeActiveEnvironmentPath: changed.event,
      known: [],
      onDidChangeEnvironments: never.event,
      refreshEnvironments: async () => undefined,
      resolveEnvironment: async (env) => {
        const path = typeof env === "string" ? env : env.path;
        return path ? environment(path) : undefined;
      },
      getEnvironmentVariables: () => ({}),
      onDidEnvironmentVariablesChange: never.event,
    },
  };
};

exports.deactivate = function deactivate() {};
