"""`python -m mobiledenoise`: the same CLI as the `mobiledenoise` command."""

from mobiledenoise.cli import main

main()
