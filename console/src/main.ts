import { createApp } from 'vue';
import { createPinia } from 'pinia';
import 'element-plus/dist/index.css';
import 'element-plus/theme-chalk/dark/css-vars.css';
import './styles.css';
import App from './App.vue';
import { i18n } from './i18n';
import { router } from './router';
import { api } from './api/client';
import { useSessionStore } from './stores/session';
import './theme';

const app = createApp(App);
app.use(createPinia()).use(i18n).use(router);
// a 401 on any call means the session expired or was ended elsewhere: back to the login page
api.onUnauthorized = () => {
  useSessionStore().clear();
  if (router.currentRoute.value.name !== 'login') void router.replace({ name: 'login', query: { next: router.currentRoute.value.fullPath } });
};
app.mount('#app');
