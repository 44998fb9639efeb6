from podseek.cli import main

main()
