from pgseek.cli import main

main()
