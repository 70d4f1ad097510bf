import sys

from order_import.service import build


def main() -> None:
    if sys.argv[1:2] == ["buyer-keys"]:
        from order_import.buyers import keys_command

        sys.exit(keys_command(sys.argv[2:]))
    build().run()


if __name__ == "__main__":
    main()
