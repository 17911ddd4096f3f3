"""`python -m minigan.cli ...` runs the `minigan` command."""

from minigan.cli import main

main()
