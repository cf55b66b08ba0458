from disinfodb.cli import main

main()
