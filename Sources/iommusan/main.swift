print("iommusan")
