import type { Profile } from '@parley/shared';
import { UserError, type UserManagement } from '../core/user-management.js';
import type { ProfileOverrides, ServiceProfile } from '../core/service-profile.js';
import type { Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';

/** The API's view of a profile: what applies, and the user's own overrides. */
function view(profile: ServiceProfile, defaults: ServiceProfile, overrides: ProfileOverrides): Profile {
  return { ...profile, contentTypes: [...profile.contentTypes], defaults: { ...defaults, contentTypes: [...defaults.contentTypes] }, overrides: { ...overrides } };
}

function fromUserError(err: unknown): never {
  if (err instanceof UserError) {
    if (err.kind === 'not_found') throw new ApiError(404, 'not_found', err.message);
    throw new ApiError(400, 'invalid_value', err.message, /size/.test(err.message) ? 'maxMessageBytes' : /media type/.test(err.message) ? 'contentTypes' : undefined);
  }
  throw err;
}

/**
 * Service profiles (issue 11, Y1/Y3) through `UserManagement`, the CLI's code path: support reads,
 * admin changes, and every change is audit-logged with the overrides before and after.
 */
export function profileRoutes(manage: UserManagement): Pick<Handlers, 'getProfile' | 'updateProfile'> {
  return {
    async getProfile({ params }) {
      const { profile, overrides } = await manage.profile(params.name).catch((e: unknown) => fromUserError(e));
      return view(profile, manage.profiles!.defaults, overrides);
    },

    async updateProfile(req) {
      const { username, before, after, profile } = await manage.setProfile(req.params.name, req.body).catch((e: unknown) => fromUserError(e));
      await req.audit('user.profile', username, before, after);
      return view(profile, manage.profiles!.defaults, after);
    },
  };
}
