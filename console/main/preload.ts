import { contextBridge, ipcRenderer } from 'electron';
import { CHANNELS, type ChannelApi } from './channels.js';

/**
 * The preload of the sandboxed window: the page gets `window.parley` with one function per
 * allow-listed channel and nothing else (no ipcRenderer, no Node).
 */
const api: ChannelApi = {
  getApplianceUrl: () => ipcRenderer.invoke(CHANNELS.getApplianceUrl),
  setApplianceUrl: (url: string) => ipcRenderer.invoke(CHANNELS.setApplianceUrl, String(url)),
  forgetApplianceUrl: () => ipcRenderer.invoke(CHANNELS.forgetApplianceUrl),
  shellVersion: () => ipcRenderer.invoke(CHANNELS.shellVersion),
};

contextBridge.exposeInMainWorld('parley', api);
