import type { Command } from 'commander';
import type { UserManagement } from './user-management.js';
import { UserError } from './user-directory.js';
import type { ProfileOverrides, ServiceProfile } from './service-profile.js';

/** What `parley user profile` takes: each option a value, or `default` to follow the configuration. */
export interface ProfileOptions {
  im?: string;
  groupChat?: string;
  storage?: string;
  maxMessageBytes?: string;
  contentTypes?: string;
}

function onOff(flag: string, v: string | undefined): boolean | null | undefined {
  if (v === undefined) return undefined;
  const s = v.toLowerCase();
  if (s === 'on') return true;
  if (s === 'off') return false;
  if (s === 'default') return null;
  throw new UserError(`--${flag} takes on, off or default, not '${v}'`);
}

/** The change the options ask for (fields left out stay as they are). */
export function profileChange(o: ProfileOptions): Partial<ProfileOverrides> {
  const change: Partial<ProfileOverrides> = {};
  const im = onOff('im', o.im);
  const groupChat = onOff('group-chat', o.groupChat);
  const storage = onOff('storage', o.storage);
  if (im !== undefined) change.im = im;
  if (groupChat !== undefined) change.groupChat = groupChat;
  if (storage !== undefined) change.storage = storage;
  if (o.maxMessageBytes !== undefined) {
    if (o.maxMessageBytes.toLowerCase() === 'default') change.maxMessageBytes = null;
    else if (/^\d+$/.test(o.maxMessageBytes)) change.maxMessageBytes = Number(o.maxMessageBytes);
    else throw new UserError(`--max-message-bytes takes a number of bytes or default, not '${o.maxMessageBytes}'`);
  }
  if (o.contentTypes !== undefined) {
    const v = o.contentTypes.trim();
    change.contentTypes = v.toLowerCase() === 'default' ? null : v === '' ? [] : v.split(',').map((t) => t.trim());
  }
  return change;
}

/** The profile as `parley user profile` prints it: one `key: value` line each, `(default)` where not overridden. */
export function formatProfile(p: ServiceProfile, o: ProfileOverrides): string {
  const mark = (k: keyof ProfileOverrides): string => (o[k] === null ? ' (default)' : '');
  const on = (b: boolean): string => (b ? 'on' : 'off');
  return [
    `im: ${on(p.im)}${mark('im')}`,
    `group-chat: ${on(p.groupChat)}${mark('groupChat')}`,
    `storage: ${on(p.storage)}${mark('storage')}`,
    `max-message-bytes: ${p.maxMessageBytes}${mark('maxMessageBytes')}`,
    `content-types: ${p.contentTypes.length === 0 ? 'all' : p.contentTypes.join(',')}${mark('contentTypes')}`,
  ].join('\n');
}

/**
 * `parley user profile <user> [options]`: shows a user's service profile, or changes it (Y1, Y3)
 * through `UserManagement`, the admin API's code path; a change is audit-logged as `user.profile`.
 */
export function registerProfileCommand(
  user: Command,
  withUsers: (fn: (u: UserManagement, audit: (action: string, target: string | null, after?: unknown, before?: unknown) => Promise<void>) => Promise<void>) => Promise<void>,
): void {
  user
    .command('profile <name>')
    .description("show or change a user's service profile; 'default' follows the configuration's profile.*")
    .option('--im <on|off|default>', 'pager messages and one-to-one sessions')
    .option('--group-chat <on|off|default>', 'list and group messages, chat rooms')
    .option('--storage <on|off|default>', 'conversation and deferred storage')
    .option('--max-message-bytes <n|default>', 'largest message body sent or received')
    .option('--content-types <types|default>', "media types sent and received, comma-separated (text/*, image/png); '' for all")
    .action((name: string, o: ProfileOptions) =>
      withUsers(async (u, audit) => {
        const change = profileChange(o);
        if (Object.keys(change).length === 0) {
          const { profile, overrides } = await u.profile(name);
          console.log(formatProfile(profile, overrides));
          return;
        }
        const { username, before, after, profile } = await u.setProfile(name, change);
        await audit('user.profile', username, after, before);
        console.log(formatProfile(profile, after));
      }),
    );
}
