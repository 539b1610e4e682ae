"""CampusCard — open-source smart campus card platform (智慧校园一卡通)."""
