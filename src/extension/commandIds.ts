// No `vscode` import here: a unit test checks this table against package.json.

/** Every command: id → whether it runs something (and so needs Workspace Trust). */
export const COMMANDS = {
  'agentLanes.newPlanFromTemplate': { trust: false },
  'agentLanes.planWithAgent': { trust: true },
  'agentLanes.validatePlan': { trust: false },
  'agentLanes.runPlan': { trust: true },
  'agentLanes.runLane': { trust: true },
  'agentLanes.stopLane': { trust: true },
  'agentLanes.stopRun': { trust: true },
  'agentLanes.retryLane': { trust: true },
  'agentLanes.resumeRun': { trust: true },
  'agentLanes.openLaneWorktree': { trust: false },
  'agentLanes.openLaneTerminal': { trust: true },
  'agentLanes.showLaneLog': { trust: false },
  'agentLanes.compareLaneWithBase': { trust: true },
  'agentLanes.showRunReport': { trust: true },
  'agentLanes.cleanUp': { trust: true },
  'agentLanes.refresh': { trust: false },
  'agentLanes.openReconcilePanel': { trust: true },
  'agentLanes.acceptHunk': { trust: true },
  'agentLanes.showLaneConflict': { trust: true },
  'agentLanes.checkAgents': { trust: true },
  'agentLanes.cleanRun': { trust: true },
  'agentLanes.resolveConflict': { trust: true },
  'agentLanes.commitResolution': { trust: true },
  'agentLanes.abortResolution': { trust: true },
  'agentLanes.sendFindingBack': { trust: true },
  'agentLanes.editAndSendFinding': { trust: true },
  'agentLanes.dismissFinding': { trust: true },
} as const;
export type CommandId = keyof typeof COMMANDS;
