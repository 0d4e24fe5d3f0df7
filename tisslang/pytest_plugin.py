"""pytest plugin (entry point ``pytest11``) that lets users test TissLang plans
from Gherkin features. Fixtures and ready steps arrive with the REPL/BDD issue."""
