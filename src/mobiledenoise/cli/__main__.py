from mobiledenoise.cli import main

main()
