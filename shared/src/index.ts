/**
 * @parley/shared: the admin API's schemas and rules, imported by the appliance (validation,
 * OpenAPI) and the console (types, client-side checks). One source of truth.
 */
export * from './rules/user-names.js';
export * from './api/common.js';
export * from './api/session.js';
export * from './api/users.js';
export * from './api/profile.js';
export * from './api/import.js';
export * from './api/groups.js';
export * from './api/deferred.js';
export * from './api/status.js';
export * from './api/audit.js';
export * from './api/usage.js';
export * from './api/quota.js';
export * from './api/conversations.js';
export * from './api/routes.js';
