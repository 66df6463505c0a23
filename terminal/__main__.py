from terminal.app import main

raise SystemExit(main())
