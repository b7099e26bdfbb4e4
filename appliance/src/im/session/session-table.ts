import type { OneToOneSession, Side } from './one-to-one-session.js';

/** A live session as one of its dialogs sees it. */
export interface SessionEntry {
  session: OneToOneSession;
  side: Side;
}

/**
 * The live one-to-one sessions: each found by the Call-ID of one of its dialogs and our tag in it
 * (both legs are our dialogs, RFC 3261 §12: the B2BUA is a UA on each side), the SIP flows they
 * run over, and the callee dialogs still ringing. A session leaves the table once, by `forget`.
 */
export class SessionTable {
  /** live sessions by Call-ID and our tag in that dialog, for both legs */
  private readonly entries = new Map<string, SessionEntry>();
  /** live sessions per SIP flow (connection), so that an idle connection carrying one stays open */
  private readonly perFlow = new Map<string, number>();
  private readonly flowsOf = new Map<OneToOneSession, string[]>();
  /** callee dialogs still ringing (Call-ID and our tag): our INVITE's offer is unanswered there */
  private readonly ringing = new Set<string>();

  /** How many sessions are live (each counted once, whatever its number of dialogs). */
  get size(): number {
    return new Set([...this.entries.values()].map((e) => e.session)).size;
  }

  /** Files one of a session's dialogs: `tag` is ours in the dialog with this Call-ID. */
  add(callId: string, tag: string, session: OneToOneSession, side: Side): void {
    this.entries.set(`${callId}|${tag}`, { session, side });
  }

  /** The session a request belongs to, by its Call-ID and To tag (ours), if it is live. */
  find(callId: string, tag: string | undefined): SessionEntry | undefined {
    return this.entries.get(`${callId}|${tag ?? ''}`);
  }

  /** Marks a callee dialog as ringing until `done` is called. */
  ring(callId: string, tag: string): () => void {
    const key = `${callId}|${tag}`;
    this.ringing.add(key);
    return () => this.ringing.delete(key);
  }

  /** Whether this is a callee dialog whose INVITE is still unanswered. */
  isRinging(callId: string, tag: string | undefined): boolean {
    return this.ringing.has(`${callId}|${tag ?? ''}`);
  }

  /** Whether a session's dialog runs over this flow (RFC 5626 §5: the connection stays while in use). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  /** Counts the flows of an answered session's dialogs (each side's, when it has one). */
  countFlows(session: OneToOneSession): void {
    this.countFlow(session, session.caller.state.destination.flowId);
    this.countFlow(session, session.callee?.state.destination.flowId);
  }

  private countFlow(session: OneToOneSession, flowId: string | undefined): void {
    if (flowId === undefined) return;
    this.perFlow.set(flowId, (this.perFlow.get(flowId) ?? 0) + 1);
    this.flowsOf.set(session, [...(this.flowsOf.get(session) ?? []), flowId]);
  }

  /** Removes a session: its dialogs and its flows. */
  forget(session: OneToOneSession): void {
    for (const [k, v] of this.entries) if (v.session === session) this.entries.delete(k);
    for (const f of this.flowsOf.get(session) ?? []) {
      const n = (this.perFlow.get(f) ?? 1) - 1;
      if (n > 0) this.perFlow.set(f, n);
      else this.perFlow.delete(f);
    }
    this.flowsOf.delete(session);
  }

  /** Every live dialog's entry, copied (ending a session changes the table). */
  all(): SessionEntry[] {
    return [...this.entries.values()];
  }
}
