"""``python -m ntrvsta_async``: the same as the ``ntrvsta`` command."""

from ntrvsta_async.cli import main

if __name__ == "__main__":
    main()
