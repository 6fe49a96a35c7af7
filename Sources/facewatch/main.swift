print("facewatch")
