"""`python -m revue.cdn` runs the service."""

from revue.cdn.app import main

main()
