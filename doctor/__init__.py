"""kafka-tls doctor: one read-only command that says, per host of a stack, whether what runs
there is what the stack last wrote, and what to do where it is not.

``python -m doctor --stack NAME [--cwd DIR] [--json] [--host NAME ...]``

- ``stack.py`` reads the stack: its config (hosts, paths, SSH) and the outputs it needs, through
  the Pulumi CLI, never with ``--show-secrets``; the SSH key goes straight to a 0600 file.
- ``remote.py`` builds the one read-only script each host runs (over SSH, as root through
  ``sudo -n``) and parses the report it prints.
- ``checks.py`` turns what a host showed and what the stack says into check results (pure).
- ``__main__.py`` runs the hosts in parallel and prints a table or JSON (``schema.json``).

Exit codes: 0 every check ok, 1 a problem found, 2 nothing wrong found but something could not
be checked (a host unreachable, a tool missing; the other hosts are still checked).
"""
