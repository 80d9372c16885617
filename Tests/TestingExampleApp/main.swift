// The example app's executable: its containers, when a test runs them as processes.
import AloftTestingExample

declareExampleFunctions()
exampleApp.main()
