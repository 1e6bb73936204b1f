from reusecheck.cli import main

main()
