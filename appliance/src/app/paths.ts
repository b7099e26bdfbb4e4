/** Where XCAP documents live on the HTTP port (README: XDMS). */
export const XCAP_ROOT = '/xcap-root';
/** path of the HTTP retrieval API of stored conversations and session history (history-api.ts) */
export const HISTORY_API = '/history';
