# PyInstaller entry of the console CLI `rismodel` (fine-tuning runs this one from the app).
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader workers started with spawn re-enter here
    from rismodel.cli import main

    sys.exit(main())
