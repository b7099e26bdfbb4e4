import { ref, watch } from 'vue';

export type ThemeName = 'light' | 'dark';

const KEY = 'parley-console-theme';

function initial(): ThemeName {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The console's theme: the saved choice, else the system's; Element Plus's dark variables apply under `html.dark`. */
export const theme = ref<ThemeName>(initial());

watch(
  theme,
  (t) => {
    document.documentElement.classList.toggle('dark', t === 'dark');
    document.documentElement.style.colorScheme = t;
    localStorage.setItem(KEY, t);
  },
  { immediate: true },
);

export function toggleTheme(): void {
  theme.value = theme.value === 'dark' ? 'light' : 'dark';
}
