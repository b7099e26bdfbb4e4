/**
 * The only IPC channels between the console's pages and the Electron main process (Element
 * Desktop's allow-listed CHANNELS, STYLE.md: Console). The preload exposes exactly these, one
 * function each, and the main process answers no other.
 */
export const CHANNELS = {
  /** the appliance URL the shell remembers, or null before the first run is done */
  getApplianceUrl: 'parley:get-appliance-url',
  /** check and remember an appliance URL, then open its console; answers the problem when refused */
  setApplianceUrl: 'parley:set-appliance-url',
  /** forget the appliance and show the first-run screen again */
  forgetApplianceUrl: 'parley:forget-appliance-url',
  /** the shell's version, for the about line */
  shellVersion: 'parley:shell-version',
} as const;

export type ChannelName = keyof typeof CHANNELS;
export type Channel = (typeof CHANNELS)[ChannelName];

/** What each channel takes and answers: the preload's typed face. */
export interface ChannelApi {
  getApplianceUrl(): Promise<string | null>;
  setApplianceUrl(url: string): Promise<{ ok: true } | { ok: false; reason: string }>;
  forgetApplianceUrl(): Promise<void>;
  shellVersion(): Promise<string>;
}

const ALLOWED: ReadonlySet<string> = new Set(Object.values(CHANNELS));

/** Whether a channel name is one of ours (anything else is refused on both sides). */
export function isAllowedChannel(name: unknown): name is Channel {
  return typeof name === 'string' && ALLOWED.has(name);
}
