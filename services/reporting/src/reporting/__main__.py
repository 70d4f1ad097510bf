from reporting.service import build


def main() -> None:
    build().run()


if __name__ == "__main__":
    main()
