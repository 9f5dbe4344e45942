from commons.cli import main

main()
