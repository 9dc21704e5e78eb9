// utizmon login page: only the theme toggle; the form itself needs no script.
import { initThemeToggle } from './theme-toggle.js';

initThemeToggle();
