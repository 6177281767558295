from rabtui.cli import main

raise SystemExit(main())
