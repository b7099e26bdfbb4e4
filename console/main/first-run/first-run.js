// The first-run screen: asks for the appliance's address and hands it to the shell, which checks
// it, remembers it and opens its console. Its strings come from the console's locale file
// (src/locales/en.json, "desktop.firstRun"), written into strings.js by build-shell.mjs.
const STRINGS = window.PARLEY_FIRST_RUN_STRINGS;

document.getElementById('title').textContent = STRINGS.title;
document.getElementById('intro').textContent = STRINGS.intro;
document.getElementById('url-label').textContent = STRINGS.label;
document.getElementById('submit').textContent = STRINGS.submit;

const input = document.getElementById('url');
const problem = document.getElementById('problem');
window.parley.getApplianceUrl().then((url) => {
  if (url) input.value = url;
  input.focus();
});
document.getElementById('form').addEventListener('submit', async (event) => {
  event.preventDefault();
  problem.textContent = '';
  const answer = await window.parley.setApplianceUrl(input.value);
  if (!answer.ok) {
    problem.textContent = STRINGS.refused.replace('{reason}', answer.reason);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
});
