import sys

from order_import.service import build


def main() -> None:
    if sys.argv[1:2] == ["buyer-keys"]:
        from order_import.buyers import keys_command

        sys.exit(keys_command(sys.argv[2:]))
    if sys.argv[1:2] == ["config"]:
        from order_import.service import Settings
        from order_import.settings import registry
        from servicekit import config_cli

        sys.exit(config_cli.main("python -m order_import config", registry, sys.argv[2:],
                                 port=Settings.model_fields["http_port"].default))
    build().run()


if __name__ == "__main__":
    main()
