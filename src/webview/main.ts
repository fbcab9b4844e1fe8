/**
 * Reconcile panel (browser side). The panel itself arrives with the reconcile-panel issue; this
 * entry already follows its rules: one transport (postMessage), a `ready` handshake, and text
 * inserted as text, never as HTML.
 */
interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const root = document.getElementById('root');

window.addEventListener('message', (event: MessageEvent) => {
  const data = event.data as { type?: unknown; text?: unknown } | null;
  if (!root || !data || data.type !== 'status' || typeof data.text !== 'string') return;
  root.textContent = data.text;
});

vscode.postMessage({ type: 'ready' });
