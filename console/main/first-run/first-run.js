// The first-run screen: asks for the appliance's address and hands it to the shell, which checks
// it, remembers it and opens its console. Strings sit here because the page runs before any
// appliance (and its locale files) is known; they mirror console/src/locales/en.json's style.
const STRINGS = {
  title: 'Connect to your Parley appliance',
  intro: 'Enter the address of the appliance, as you would open it in a browser, for example http://parley.example.test:8080.',
  label: 'Appliance address',
  submit: 'Connect',
};

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
    problem.textContent = `That address cannot be used: ${answer.reason}.`;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
});
