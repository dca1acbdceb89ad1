# PyInstaller entry of the windowed app (app.main handles freeze support and --run-rismodel).
import sys

from app.main import main

sys.exit(main())
