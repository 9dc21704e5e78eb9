//! Placeholder until the dashboard lands: the minijinja environment for HTML pages.
