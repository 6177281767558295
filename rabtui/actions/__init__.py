"""The operator's verbs, one module each: what the command line, the UI and the detached job
processes call. An action takes the config, the state database, an emit callback, a cancel event
and a prompter (those it needs), owns the verb's locks, job record, notifications and rules, and
returns a result the front prints or shows."""
