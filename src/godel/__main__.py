from godel.cli import main

main()
