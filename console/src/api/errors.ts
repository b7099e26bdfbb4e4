import { ElMessage } from 'element-plus';
import { i18n } from '../i18n';
import { ApiRequestError } from './client';

/**
 * What the user is told about a failed call: the locale's text for the API's stable error code
 * when there is one, else the API's own message, with the field at fault.
 */
export function errorText(err: unknown): string {
  const { t, te } = i18n.global;
  if (err instanceof ApiRequestError) {
    const base = te(`errors.${err.code}`) ? t(`errors.${err.code}`) : err.message;
    return err.field ? t('errors.withField', { message: base, field: err.field }) : base;
  }
  return t('errors.network');
}

/** Shows a failed call as a message; returns the error for callers that branch on it. */
export function showError(err: unknown): unknown {
  ElMessage({ type: 'error', message: errorText(err), showClose: true });
  return err;
}

export function showDone(message: string): void {
  ElMessage({ type: 'success', message });
}
