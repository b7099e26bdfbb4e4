import { startShell } from './shell.js';

// Electron's main process entry (package.json "main": dist-shell/main.js)
startShell();
