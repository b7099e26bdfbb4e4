import { ElMessageBox } from 'element-plus';
import { i18n } from '../i18n';
import { ApiRequestError } from './client';

/** Whether a write failed because the document changed since it was read (412 stale ETag, or 409). */
export function isConflict(err: unknown): boolean {
  return err instanceof ApiRequestError && (err.status === 412 || err.status === 409);
}

/**
 * Tells the admin that someone else (a client over XCAP, another admin) changed the document
 * first, and offers to reload it; resolves true when they chose to.
 */
export async function offerReload(): Promise<boolean> {
  const { t } = i18n.global;
  try {
    await ElMessageBox.confirm(t('conflict.text'), t('conflict.title'), { type: 'warning', confirmButtonText: t('conflict.reload'), cancelButtonText: t('common.cancel') });
    return true;
  } catch {
    return false;
  }
}
