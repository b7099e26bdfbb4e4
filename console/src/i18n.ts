import { createI18n } from 'vue-i18n';
import en from './locales/en.json';

export type MessageSchema = typeof en;

/**
 * Every string the console shows comes from a locale file (English first). vue-i18n's JIT
 * compiler turns messages into ASTs, not code, so the CSP needs no 'unsafe-eval'.
 */
export const i18n = createI18n<[MessageSchema], 'en'>({
  legacy: false,
  locale: 'en',
  fallbackLocale: 'en',
  messages: { en },
  datetimeFormats: {
    en: {
      long: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' },
      time: { hour: '2-digit', minute: '2-digit', second: '2-digit' },
    },
  },
});
