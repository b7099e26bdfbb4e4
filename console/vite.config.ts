import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

/**
 * The renderer is served by the appliance at /console (appliance/src/http/console-route.ts), so
 * every URL in the build starts there. Hashed file names under assets/ let the appliance cache
 * them for a year; index.html is revalidated on each load.
 */
export default defineConfig({
  base: '/console/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Element Plus and ECharts are large; pages are loaded lazily, so each chunk is fetched when needed
    chunkSizeWarningLimit: 1500,
  },
});
